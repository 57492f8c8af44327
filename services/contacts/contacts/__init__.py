"""The contacts service: customers (people and companies) and their 360-degree timeline."""
