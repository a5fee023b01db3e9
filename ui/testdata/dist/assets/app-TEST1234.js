console.log("tracker ui test bundle");
