"""The analysis of PR-DARTS (Zhou et al. 2020): ``toy`` (the analysed toy cell, Theorems 1 and 4) and
``skipnet`` (the Figure 2 analogue). The search method itself is ``convlib.darts``."""


__all__: list[str] = []
