"""The simulate room: a seeded world model of an online retailer whose Ops and CX signals are
causally linked, generated together with its ground truth."""
