"""The Generate pane (F4): streamed generation, live sampling keys, the next-character chart and classify mode."""
