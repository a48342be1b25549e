"""edgelstm: Keras LSTM/GRU models to TFLite, ONNX and C for Cortex-M microcontrollers."""
import os as _os

# TensorFlow's C++ start-up chatter, before anything imports TensorFlow (a user's own setting wins).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
