"""The Stepper pane (F2): the step, weights and gradient views, its scenario form and the text report; and the
inspector, which steps a trained run through your own text in place of the toy layer.

    pane.py              StepperPane: the toy layer's keys, worker and views
    step_view.py weights_view.py gradients_view.py form.py report.py   the toy layer's views, form and text report
    inspect_host.py      what the pane does to host the inspector (o, Esc)
    inspector.py         Inspector: the trained run's keys, state and worker
    inspect_views.py     its Step and Find views, its status line
    heatmap.py           the heatmap and the units × time strip (kept colours, drawn as lines of segments)
    inspect_forms.py     its text form, unit form and probe list
"""
