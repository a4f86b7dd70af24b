"""The Train tab's parts: the set-up form, the live view of a run, the runs list, the task table
(``ganstudio.ui.train_panel.TrainPanel`` puts them together)."""
