"""The web service: the conversational UI (to come) and the status page of the box."""
