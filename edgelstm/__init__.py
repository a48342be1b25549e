"""edgelstm: Keras LSTM/GRU models to TFLite, ONNX and C for Cortex-M microcontrollers."""
__version__ = "0.1.0"
