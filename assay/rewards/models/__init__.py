"""Rewards computed by local models (the ``models`` extra): semantic similarity and diversity with
a sentence encoder, likelihoods under a causal LM, classifier and embedding-head reward models
(the head file format in ``head``; training it lives in ``assay.train``). torch is imported
only when one of them is built.
"""
