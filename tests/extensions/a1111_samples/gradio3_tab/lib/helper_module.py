WORD = "from the extension's own folder"
