"""Local stand-ins for external chat APIs: real HTTP servers on 127.0.0.1 that record what they receive.

Each fake lives in its own module (fake_line, ...) so the channels' tests stay independent.
"""
