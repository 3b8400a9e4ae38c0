"""ISO 20022 bank files: the pain.001 credit transfers we send, the camt.054 answers we read."""
