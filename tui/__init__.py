"""The Textual app, its panes and the `rnn-tui` command line."""
