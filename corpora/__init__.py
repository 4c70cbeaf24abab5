"""Data only: finding, downloading, caching and reading text and reviews; tokenizers; vocabularies; batching.

Modules (import the one you need; nothing heavy is imported here):
- `text`: plain text for the character model (file, `gutenberg:ID`, `python-docs` fallback)
- `gutenberg`: download once into the user cache, checksum, cut the book's body
- `reviews`: labelled reviews as `datasets` tables with a seeded validation split
- `tokenize`, `vocab`: the book's word tokenizer; word and character vocabularies (JSON)
- `encoding`: reviews → token ids with cached `datasets.map`
- `batching`: padded/bucketed review batches, random character windows, TBPTT streams, text split
- `report`: `rnn-tui corpus show`
- `cache`, `errors`: the cache folder and atomic writes; `CorpusError`
"""
