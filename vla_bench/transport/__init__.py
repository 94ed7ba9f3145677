"""Policy transport: a websocket + msgpack server that batches requests, and its client.

Numpy arrays travel as raw bytes with dtype and shape (never pickle), so a client needs only numpy,
msgpack and websockets, and can run under another interpreter than the policy.
"""
