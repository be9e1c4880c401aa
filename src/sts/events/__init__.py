"""Game events: the contract on the bus (Avro schemas in ``schemas/``)."""
