"""Training the shared backbone on demonstrations, with every decoding family's objective mixed."""
