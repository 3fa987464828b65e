"""GraphDef engine over the protobuf wire format. Works without TensorFlow installed."""
