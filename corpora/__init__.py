"""Data only: finding, downloading, caching and reading text and reviews; tokenizers; vocabularies; batching."""
