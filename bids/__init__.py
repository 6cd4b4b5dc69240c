"""The domain: organisations, people, bids and the rules that govern them."""
