"""The funders' pool: programmes, pools, co-funding opportunities, pledges and introductions."""
