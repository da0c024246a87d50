"""Product ingestion: read a feed (files or WooCommerce), validate, upsert in batches."""
