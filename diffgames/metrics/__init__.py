"""Metrics that games share, each a plain function of tensors or arrays.

* :mod:`diffgames.metrics.modes` — modes of a mixture covered by generated samples;
* :mod:`diffgames.metrics.classes` — classes covered by generated images;
* :mod:`diffgames.metrics.stacked` — the 1,000 digit-triple modes of stacked MNIST;
* :mod:`diffgames.metrics.nash` — Nash equilibria of matrix games by linear programming, NashConv;
* :mod:`diffgames.metrics.digit_classifier` — the MNIST digit classifier behind the class metrics.
"""
