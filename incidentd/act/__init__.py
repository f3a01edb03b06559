"""Actions on a declared incident: the targets that page, open the bridge and the channel,
inform stakeholders and the ITSM record.

`target.py` is the contract (ActionRequest in, Outcome out, one attempt per call);
`targets/` holds one module per vendor; `registry.py` builds targets from `targets.yaml`
(`config.py`). Retries, backoff and the durable outbox live elsewhere: a target never sleeps,
never retries and never logs.
"""
