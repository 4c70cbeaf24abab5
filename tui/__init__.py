"""The Textual app, its panes and the `rnn-tui` command line (it shows what engine/ computes, never the math).

    cli.py, headless.py, generate_cli.py   the command line: the app, step, corpus, train, runs,
                                           generate, classify, keymap
    app.py        the app shell: tabs, palette, keymap, help
    help.py       the help screen, built from the binding owners in bindings.py
    bindings.py   the one list of widgets that own key bindings (help and keymap read it)
    forms.py, quit.py, keymap.py, numbers.py   shared forms, the quit question, keymap files, formatting
    run_picker.py the run picker the Generate and Stepper panes share
    stepper/ train/ generate/   one package per pane: the pane, its widgets, its forms

The panes do not import each other (an import-linter contract).
"""
