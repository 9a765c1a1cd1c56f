package channels

func enlargedPipeSize() int { return pipeMax() }
