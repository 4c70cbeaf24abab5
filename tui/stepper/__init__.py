"""The Stepper pane (F2): the step, weights and gradient views, its scenario form and the text report."""
