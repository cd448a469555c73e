"""A Flower app training a tiny Llama-style language model on synthetic mobile-network records of
five regions, exchanging NNC bitstreams via nnr.fl."""
