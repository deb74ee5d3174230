"""Computer-telephony integration: the AMI client, caller recognition, customer store, screen pops."""
