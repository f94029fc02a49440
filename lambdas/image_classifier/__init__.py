"""The image classifier as a Lambda function: approved model package versions served by ONNX Runtime."""
