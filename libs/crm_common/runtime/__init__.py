"""nameko building blocks every CRM service is assembled from: store, outbox, reliable events, ops."""
