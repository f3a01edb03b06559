"""Declaration: business-severity scoring, the declaration policy, the incident record. Pure.

`scoring.facts_of` + `scoring.score` turn a correlated group into an explained `Score`;
`policy.evaluate` says what to do about it (declare, hold, join, escalate, ...) and why;
`incident` holds the incident record, its timeline and their pure transitions. The engine
and the store apply what these return: nothing here reads the clock, awaits or does I/O.
"""
