"""Training and fine-tuning of potentials: data, splits, one trainer per family.

:func:`sse_flows.training.run.train_model` is the one entry point (the ``TrainMaker``
job and ``sse-flows train`` both call it); each family's trainer drives that family's
own training code (CHGNet's ``Trainer``, SevenNet's ``sevenn``, ``mace_run_train``,
``dp --pt train``) and is named in the family's ``trainer`` slot.
"""
