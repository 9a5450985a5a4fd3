"""The web service: the conversational web app (sign-in, the assistant, devices, admin)
and the status page of the box."""
