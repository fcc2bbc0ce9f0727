"""Reader-study statistics as a plain Python package (no Django).

Data in as pandas DataFrames (the readings table of DESIGN 5.1), frozen result objects out;
JSON, tables, figures and HTML are kept apart from the numbers. Entry points:

- `analysis.compare.compare`: two arms on one outcome (reader level, paired readings, mixed model)
- `analysis.mrmc.mrmc`: Obuchowski-Rockette-Hillis and DBM analysis of AUC/sensitivity/specificity
- `analysis.power.simulate_power`, `analysis.power.paired_t_power`: planning
- `analysis.simulate.simulate_study`: synthetic readings tables
- `python -m analysis {compare,mrmc,power,simulate}`: the command line (DESIGN 5.2)
"""
