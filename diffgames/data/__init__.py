"""Offline data sets: nothing here downloads anything (see :mod:`diffgames.data.mnist`)."""
