"""The networks: the ModelScope UNet3D and its layers, StreamingT2V's CAM, APM and mergers, and their configs."""
