"""Small corpora shipped with rnnlab (plain UTF-8 text, one item per line).

``charclass_<class>.txt``: common words of one language, lower case, written for rnnlab;
the ``charclass`` task uses each file as one class.
"""
