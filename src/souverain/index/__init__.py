"""Index backends: a CRUD store plus its own retriever per backend."""
