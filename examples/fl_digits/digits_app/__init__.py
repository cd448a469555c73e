"""A Flower app on scikit-learn's digits with a numpy MLP, exchanging NNC bitstreams via nnr.fl."""
