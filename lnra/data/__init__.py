"""Datasets on disk → decoded-frame cache → clips and test windows."""
