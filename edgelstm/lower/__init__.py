"""lower: ModelDesc -> graphs the converters handle (tf_keras clones, per-gate lowered graphs)."""
