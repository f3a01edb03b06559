"""One module per vendor; each builds the vendor's documented request from an ActionRequest
and classifies the vendor's documented answers. `incidentd/act/registry.py` lists them."""
