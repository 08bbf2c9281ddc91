"""`s1bench fleet`: migration days for thousands of installations, paced as the DCC paces them.

Seed 000 names the gap ("DCC does not currently have the capability to carry
out complete end-to-end capacity testing"); seed 002 Annex C gives the pacing
the DCC follows: a daily go/no-go, a DMC throttled or halted in day on
anomalous behaviour until diagnosis, volumes scaled up after good days and
down or paused on higher than expected failure rates or a new or unknown
error. The package is split by what each part owns:

* :mod:`.plan`: the fleet (how many installations of each DMC, in which order);
* :mod:`.pacing`: the MCC's decisions, as data with their reasons;
* :mod:`.work`: one installation's migration, as a worker process runs it;
* :mod:`.run`: days, waves, workers, the record and resume;
* :mod:`.report`: summary, per-day tables and the pacing graph.
"""
