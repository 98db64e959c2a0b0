"""PES agent: durable local buffer and MQTT sender for equipment gateways."""

__version__ = "0.1.0"
