// getReader
