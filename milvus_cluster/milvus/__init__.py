"""The Milvus adapter: the only package that imports pymilvus or reads its dictionaries."""
