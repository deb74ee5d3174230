"""FastAGI wire protocol, the call channel facade and call flows."""
