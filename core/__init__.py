"""The floor: web and API plumbing every app shares (access mixins, id and filter helpers,
filter chips, pagination, API errors and schema hooks, shared serializers). It imports no app
of this project; every app may import it."""
