"""Constructs of the real-time fraud detection stacks, and their state machine definitions.

The `*_definition` modules are plain functions returning Amazon States Language (no CDK import), so
the constructs ship them and the offline run (`make fraud-demo`) and the tests execute the very
same definitions on the emulator.
"""
