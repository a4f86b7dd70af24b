"""The Latent tab, one widget per tool over a Qt-free session (the panel itself is ui/latent_panel.py):

    session.py             LatentSession: the tab's state and rules, job kwargs (no Qt, no torch); model list
    model_bar.py           model list, Open file…, the open model's line, "Load the recipe's model?" prompt
    grid.py                sampling settings and the 4x4 seed grid (pick / label tiles)
    directions_tool.py     the edited image, sliders, SeFa / PCA / supervised directions, files, style mixing
    interpolation_tool.py  frames between picked tiles; strip / frames export
    arithmetic_tool.py     A - B + C of picked tiles
    projection_tool.py     a photo -> latent
    job_progress.py        progress row (ETA, Cancel / Stop) bound to JobSlots
"""
